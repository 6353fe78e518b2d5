using FunctionsAuth.Protection;
using FunctionsAuth.Storage;

namespace FunctionsAuth.Sessions;

/// <summary>Encrypts and decrypts a session row's token fields, each bound to its table, row and field.</summary>
internal sealed class SessionCrypto(TokenProtector protector, SessionStore store)
{
    private const string RefreshTokenField = "refresh_token";
    private const string AccessTokenField = "access_token";

    public ValueTask<string> ReadRefreshTokenAsync(SessionEntity session, CancellationToken cancellationToken) =>
        session.RefreshToken is { } ciphertext
            ? protector.UnprotectAsync(ciphertext, Purpose(session, RefreshTokenField), cancellationToken)
            : throw new TokenProtectionException(TokenProtectionFailure.MalformedCiphertext);

    public async ValueTask<string?> ReadAccessTokenAsync(SessionEntity session, CancellationToken cancellationToken) =>
        session.AccessToken is { } ciphertext
            ? await protector.UnprotectAsync(ciphertext, Purpose(session, AccessTokenField), cancellationToken)
            : null;

    /// <summary>Encrypts both tokens under the newest key (re-encrypting a kept refresh token too).</summary>
    public async ValueTask WriteTokensAsync(SessionEntity session, string? accessToken, string refreshToken, CancellationToken cancellationToken)
    {
        session.RefreshToken = await protector.ProtectAsync(refreshToken, Purpose(session, RefreshTokenField), cancellationToken);
        session.AccessToken = accessToken is null ? null : await protector.ProtectAsync(accessToken, Purpose(session, AccessTokenField), cancellationToken);
        session.KeyId = TokenProtector.ReadKeyId(session.RefreshToken);
    }

    private string Purpose(SessionEntity session, string field) => $"{store.SessionsTableName}/{session.PartitionKey}/{field}";
}
