using System.Diagnostics;

namespace FunctionsAuth.Benchmarks;

/// <summary>
/// The storage requests and provider calls one measured call made, each with its start and end
/// (<see cref="Stopwatch.GetTimestamp"/>), recorded by the pipeline policy and the HTTP handler through an
/// <see cref="AsyncLocal{T}"/> (the call's execution context reaches the single-flight's task, the SDK's pipeline and
/// the provider's HTTP handler). From them, <see cref="Split"/> divides the call's time into three parts that add up to
/// it exactly.
/// </summary>
internal sealed class RequestTimeline
{
    private static readonly AsyncLocal<RequestTimeline?> Ambient = new();

    private readonly Lock gate = new();
    private readonly List<Interval> storage = [];
    private readonly List<Interval> provider = [];

    /// <summary>The timeline of the measured call running in this execution context, if any.</summary>
    public static RequestTimeline? Current => Ambient.Value;

    /// <summary>The storage requests, each labelled (<c>sessions.GET</c>, <c>index.PUT</c>, …), in the order they ended.</summary>
    public IReadOnlyList<Interval> Storage
    {
        get
        {
            lock (gate)
            {
                return [.. storage];
            }
        }
    }

    /// <summary>Runs <paramref name="call"/> with a timeline of its own and returns how its time divides.</summary>
    public static async Task<(Split Split, RequestTimeline Timeline)> MeasureAsync(Func<Task> call)
    {
        var timeline = new RequestTimeline();
        var started = Stopwatch.GetTimestamp();
        await RunWithAsync(timeline, call);
        var ended = Stopwatch.GetTimestamp();
        return (timeline.Divide(started, ended), timeline);
    }

    public void AddStorage(string label, long started, long ended, long requestBytes)
    {
        lock (gate)
        {
            storage.Add(new Interval(label, started, ended, requestBytes));
        }
    }

    public void AddProvider(long started, long ended)
    {
        lock (gate)
        {
            provider.Add(new Interval("provider", started, ended, 0));
        }
    }

    /// <summary>
    /// Provider: the time a provider call was outstanding. Storage on the critical path: the time a storage request was
    /// outstanding and no provider call was (the next index row, written beside the provider call, counts only where
    /// it outlasts it). Rest: the time neither was outstanding: FunctionsAuth's own CPU work and scheduling.
    /// </summary>
    private Split Divide(long started, long ended)
    {
        lock (gate)
        {
            var total = ended - started;
            var providerTicks = Covered(provider, started, ended);
            var anyTicks = Covered([.. storage, .. provider], started, ended);
            return new Split(Ms(total), Ms(anyTicks - providerTicks), Ms(providerTicks), Ms(total - anyTicks));
        }
    }

    /// <summary>Length of the union of <paramref name="intervals"/>, clipped to [<paramref name="from"/>, <paramref name="to"/>].</summary>
    private static long Covered(List<Interval> intervals, long from, long to)
    {
        long covered = 0;
        var reached = from;
        foreach (var interval in intervals.OrderBy(i => i.Started))
        {
            var start = Math.Max(interval.Started, reached);
            var end = Math.Min(interval.Ended, to);
            if (end > start)
            {
                covered += end - start;
                reached = end;
            }
        }

        return covered;
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    // A method of its own, so the ambient value set here is the call's and never leaks back into the caller's context.
    private static async Task RunWithAsync(RequestTimeline timeline, Func<Task> call)
    {
        Ambient.Value = timeline;
        await call();
    }

    /// <summary>One request: its label, start and end timestamps, and the size of its body (0 without one).</summary>
    internal readonly record struct Interval(string Label, long Started, long Ended, long RequestBytes)
    {
        public double Milliseconds => Ms(Ended - Started);
    }

    /// <summary>One call's time in milliseconds: <see cref="Total"/> = <see cref="Storage"/> + <see cref="Provider"/> + <see cref="Rest"/>.</summary>
    internal readonly record struct Split(double Total, double Storage, double Provider, double Rest);
}
