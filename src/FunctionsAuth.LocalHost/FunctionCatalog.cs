using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace FunctionsAuth.LocalHost;

internal sealed record HttpFunction(string Name, Type Type, MethodInfo Method, string Route, string[] Methods, AuthorizationLevel Level);

internal sealed record TimerFunction(string Name, Type Type, MethodInfo Method, string Schedule, bool RunOnStartup);

/// <summary>A queue-triggered function: <see cref="Trigger"/> is the parameter the message binds to.</summary>
internal sealed record QueueFunction(string Name, Type Type, MethodInfo Method, ParameterInfo Trigger, string QueueName, string? Connection);

/// <summary>The <c>[Function]</c> methods of the Functions app, read from the same attributes the worker's metadata comes from.</summary>
internal sealed class FunctionCatalog
{
    private static readonly HashSet<Type> SupportedParameters = [typeof(HttpRequest), typeof(CancellationToken), typeof(TimerInfo)];

    public required IReadOnlyList<HttpFunction> Http { get; init; }

    public required IReadOnlyList<TimerFunction> Timers { get; init; }

    public IReadOnlyList<QueueFunction> Queues { get; init; } = [];

    public static FunctionCatalog FromAssembly(Assembly assembly) => FromTypes(assembly.GetExportedTypes());

    public static FunctionCatalog FromTypes(IEnumerable<Type> types)
    {
        var http = new List<HttpFunction>();
        var timers = new List<TimerFunction>();
        var queues = new List<QueueFunction>();
        foreach (var type in types)
        {
            foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static))
            {
                if (method.GetCustomAttribute<FunctionAttribute>() is not { } function)
                {
                    continue;
                }

                foreach (var parameter in method.GetParameters())
                {
                    // The message binds to string, BinaryData, byte[], QueueMessage or a JSON type (QueueTriggerHost.Bind).
                    if (parameter.GetCustomAttribute<QueueTriggerAttribute>() is { } queueTrigger)
                    {
                        queues.Add(new QueueFunction(function.Name, type, method, parameter, queueTrigger.QueueName, queueTrigger.Connection));
                        continue;
                    }

                    if (!SupportedParameters.Contains(parameter.ParameterType))
                    {
                        throw new NotSupportedException($"Function {function.Name}: the local host cannot bind parameter '{parameter.Name}' of type {parameter.ParameterType.Name}.");
                    }

                    if (parameter.GetCustomAttribute<HttpTriggerAttribute>() is { } httpTrigger)
                    {
                        var route = httpTrigger.Route ?? function.Name;
                        var methods = (httpTrigger.Methods ?? ["get", "post"]).Select(m => m.ToUpperInvariant()).ToArray();
                        http.Add(new HttpFunction(function.Name, type, method, route, methods, httpTrigger.AuthLevel));
                    }
                    else if (parameter.GetCustomAttribute<TimerTriggerAttribute>() is { } timerTrigger)
                    {
                        timers.Add(new TimerFunction(function.Name, type, method, timerTrigger.Schedule, timerTrigger.RunOnStartup));
                    }
                }
            }
        }

        return new FunctionCatalog { Http = http, Timers = timers, Queues = queues };
    }
}
