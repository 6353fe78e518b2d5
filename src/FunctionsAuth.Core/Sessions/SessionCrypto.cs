using FunctionsAuth.Protection;
using FunctionsAuth.Storage;

namespace FunctionsAuth.Sessions;

/// <summary>
/// Encrypts and decrypts a session row's token fields, each bound to its table, row, field, provider and generation:
/// a ciphertext copied to another row or field, a row relabelled to another provider or rolled back to an older
/// generation's ciphertext fails closed.
/// </summary>
internal sealed class SessionCrypto(TokenProtector protector, SessionStore store)
{
    private const string RefreshTokenField = "refresh_token";
    private const string AccessTokenField = "access_token";

    public ValueTask<string> ReadRefreshTokenAsync(SessionEntity session, CancellationToken cancellationToken) =>
        session.RefreshToken is { } ciphertext
            ? protector.UnprotectAsync(ciphertext, Context(session, RefreshTokenField), cancellationToken)
            : throw new TokenProtectionException(TokenProtectionFailure.MalformedCiphertext);

    public async ValueTask<string?> ReadAccessTokenAsync(SessionEntity session, CancellationToken cancellationToken) =>
        session.AccessToken is { } ciphertext
            ? await protector.UnprotectAsync(ciphertext, Context(session, AccessTokenField), cancellationToken)
            : null;

    /// <summary>
    /// Encrypts both tokens under the newest key (re-encrypting a kept refresh token too), bound to the row's
    /// <see cref="SessionEntity.Provider"/> and <see cref="SessionEntity.Generation"/> as they are now: set those first.
    /// </summary>
    public async ValueTask WriteTokensAsync(SessionEntity session, string? accessToken, string refreshToken, CancellationToken cancellationToken)
    {
        session.RefreshToken = await protector.ProtectAsync(refreshToken, Context(session, RefreshTokenField), cancellationToken);
        session.AccessToken = accessToken is null ? null : await protector.ProtectAsync(accessToken, Context(session, AccessTokenField), cancellationToken);
        session.KeyId = TokenProtector.ReadKeyId(session.RefreshToken);
        session.TokenFormat = TokenProtector.ReadFormat(session.RefreshToken);
    }

    /// <summary>A scoped token row's access token; null when it has none.</summary>
    public async ValueTask<string?> ReadAccessTokenAsync(ScopedTokenEntity scoped, string provider, CancellationToken cancellationToken) =>
        scoped.AccessToken is { } ciphertext
            ? await protector.UnprotectAsync(ciphertext, Context(scoped, provider), cancellationToken)
            : null;

    /// <summary>Encrypts a scoped token under the newest key, bound to its row, token key, provider and <see cref="ScopedTokenEntity.Generation"/>: set that first.</summary>
    public async ValueTask WriteAccessTokenAsync(ScopedTokenEntity scoped, string provider, string accessToken, CancellationToken cancellationToken)
    {
        scoped.AccessToken = await protector.ProtectAsync(accessToken, Context(scoped, provider), cancellationToken);
        scoped.KeyId = TokenProtector.ReadKeyId(scoped.AccessToken);
    }

    /// <summary>Whether the row's tokens are under <paramref name="currentKeyId"/> in the current format (otherwise the sweeper rewrites them).</summary>
    public static bool IsCurrent(SessionEntity session, string currentKeyId) =>
        session.KeyId == currentKeyId && session.TokenFormat == TokenProtector.CurrentFormat;

    private TokenContext Context(SessionEntity session, string field) =>
        new(store.SessionsTableName, session.PartitionKey, field, session.Provider, session.Generation);

    // The field names the token key: a scoped token's ciphertext copied to another scope's row (or to the session's own
    // access token field) fails closed.
    private TokenContext Context(ScopedTokenEntity scoped, string provider) =>
        new(store.SessionsTableName, scoped.PartitionKey, AccessTokenField + "/" + ScopedTokenEntity.TokenKeyOf(scoped.RowKey), provider, scoped.Generation);
}
