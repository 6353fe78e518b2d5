namespace FunctionsAuth.Protection;

/// <summary>
/// What a protected token is bound to: the row (<paramref name="Table"/>, <paramref name="SessionKey"/>), the field, the
/// provider the row names and the row's generation. A ciphertext only decrypts under the context it was written with, so
/// one copied to another row or field, relabelled to another provider, or rolled back to an older generation fails.
/// </summary>
/// <param name="Table">The sessions table's name.</param>
/// <param name="SessionKey">The row's session key (a hash of the handle, not the handle).</param>
/// <param name="Field"><c>refresh_token</c>, <c>access_token</c>, or <c>access_token/</c> and a scoped token's token key (its own row).</param>
/// <param name="Provider">The provider the row names.</param>
/// <param name="Generation">The row's generation (incremented by every refresh that stored new tokens).</param>
public readonly record struct TokenContext(string Table, string SessionKey, string Field, string Provider, long Generation)
{
    /// <summary>The associated data of format 1, which bound table, row and field only: rows written before format 2 still read.</summary>
    internal string LegacyPurpose => $"{Table}/{SessionKey}/{Field}";
}
