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

    /// <summary>Whether the row's tokens are under <paramref name="currentKeyId"/> in the current format (otherwise the sweeper rewrites them).</summary>
    public static bool IsCurrent(SessionEntity session, string currentKeyId) =>
        session.KeyId == currentKeyId && session.TokenFormat == TokenProtector.CurrentFormat;

    private TokenContext Context(SessionEntity session, string field) =>
        new(store.SessionsTableName, session.PartitionKey, field, session.Provider, session.Generation);
}
