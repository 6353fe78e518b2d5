namespace FunctionsAuth.Storage;

/// <summary>Outcome of a conditional write: a lost race is an answer, not an exception.</summary>
internal enum UpdateResult
{
    Updated,

    /// <summary>412: the row changed since it was read.</summary>
    Conflict,

    /// <summary>404: the row is gone (revoked or purged).</summary>
    NotFound,
}
