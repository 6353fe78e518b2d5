namespace FunctionsAuth.Events;

/// <summary>
/// Where the code that makes a session transition announces it: one call per transition. Never blocks and never
/// throws, so an event can neither slow down nor fail the refresh (or revocation, or sweep) it reports.
/// </summary>
internal interface ISessionEvents
{
    void Emit(SessionEvent sessionEvent);
}
