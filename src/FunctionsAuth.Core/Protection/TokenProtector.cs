using FunctionsAuth.Configuration;
using FunctionsAuth.Diagnostics;
using FunctionsAuth.Secrets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Protection;

/// <summary>
/// Encrypts tokens for storage with AES-256-GCM under the key ring held in the secret
/// <see cref="FunctionsAuthOptions.EncryptionKeySecretName"/>: every enabled version decrypts, the newest one not past
/// its <c>exp</c> encrypts. The format is <see cref="TokenCiphertext"/>; the ring's loading and caching <see cref="KeyRingCache"/>.
/// </summary>
public sealed class TokenProtector
{
    private readonly KeyRingCache _keys;
    private readonly ILogger<TokenProtector> _logger;

    public TokenProtector(ISecretSource secretSource, IOptions<FunctionsAuthOptions> options, TimeProvider timeProvider, ILogger<TokenProtector> logger, FunctionsAuthMetrics? metrics = null)
    {
        _logger = logger;
        _keys = new KeyRingCache(secretSource, options.Value.EncryptionKeySecretName, options.Value.SecretCacheDuration, timeProvider, logger, metrics);
    }

    /// <summary>The format new ciphertexts are written in (the sweeper re-encrypts rows in an older one).</summary>
    public const int CurrentFormat = TokenCiphertext.CurrentFormat;

    /// <summary>Encrypts <paramref name="plaintext"/> with the key that encrypts now, bound to <paramref name="context"/>.</summary>
    public ValueTask<byte[]> ProtectAsync(string plaintext, TokenContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        Validate(context);
        var ring = _keys.TryAcquire();
        if (ring is null)
        {
            return ProtectAfterLoadAsync(plaintext, context, cancellationToken);
        }

        try
        {
            return new ValueTask<byte[]>(TokenCiphertext.Seal(_keys.EncryptionKeyOf(ring), plaintext, context));
        }
        catch (Exception e)
        {
            return ValueTask.FromException<byte[]>(e);
        }
        finally
        {
            ring.Release();
        }
    }

    /// <summary>Decrypts with the key named in the header (expired keys included).</summary>
    /// <exception cref="TokenProtectionException">Malformed, unknown key or tag mismatch (tampered, or another context's ciphertext).</exception>
    public ValueTask<string> UnprotectAsync(ReadOnlyMemory<byte> ciphertext, TokenContext context, CancellationToken cancellationToken)
    {
        Validate(context);
        if (!TokenCiphertext.TryReadHeader(ciphertext.Span, out _, out var keyId))
        {
            return ValueTask.FromException<string>(new TokenProtectionException(TokenProtectionFailure.MalformedCiphertext));
        }

        var ring = _keys.TryAcquire();
        if (ring is not null)
        {
            try
            {
                if (ring.TryGetKey(keyId, out var key))
                {
                    return new ValueTask<string>(TokenCiphertext.Open(key, ciphertext.Span, context));
                }
            }
            catch (TokenProtectionException e)
            {
                return ValueTask.FromException<string>(e);
            }
            finally
            {
                ring.Release();
            }
        }

        return UnprotectSlowAsync(ciphertext, keyId, context, cancellationToken);
    }

    /// <summary>The id of the key new ciphertexts are written with (the sweeper re-encrypts rows under any other id).</summary>
    public async ValueTask<string> GetCurrentKeyIdAsync(CancellationToken cancellationToken)
    {
        var ring = await _keys.AcquireAsync(cancellationToken);
        try
        {
            return _keys.EncryptionKeyOf(ring).IdText;
        }
        finally
        {
            ring.Release();
        }
    }

    /// <summary>The key id in a ciphertext's header (16 hex digits), or null when it is not a ciphertext of a known format.</summary>
    public static string? ReadKeyId(ReadOnlySpan<byte> ciphertext) =>
        TokenCiphertext.TryReadHeader(ciphertext, out _, out var keyId) ? ProtectionKey.FormatId(keyId) : null;

    /// <summary>The format byte of a ciphertext, or 0 when it is not a ciphertext of a known format.</summary>
    public static int ReadFormat(ReadOnlySpan<byte> ciphertext) =>
        TokenCiphertext.TryReadHeader(ciphertext, out var format, out _) ? format : 0;

    /// <summary>For the health endpoint: throws when the key ring cannot be loaded or no key may encrypt. A fresh ring answers without a call to the secret source.</summary>
    public ValueTask CheckAsync(CancellationToken cancellationToken) => _keys.CheckAsync(cancellationToken);

    private static void Validate(in TokenContext context)
    {
        ArgumentException.ThrowIfNullOrEmpty(context.Table);
        ArgumentException.ThrowIfNullOrEmpty(context.SessionKey);
        ArgumentException.ThrowIfNullOrEmpty(context.Field);
        ArgumentNullException.ThrowIfNull(context.Provider);
    }

    private async ValueTask<byte[]> ProtectAfterLoadAsync(string plaintext, TokenContext context, CancellationToken cancellationToken)
    {
        var ring = await _keys.AcquireAsync(cancellationToken);
        try
        {
            return TokenCiphertext.Seal(_keys.EncryptionKeyOf(ring), plaintext, context);
        }
        finally
        {
            ring.Release();
        }
    }

    private async ValueTask<string> UnprotectSlowAsync(ReadOnlyMemory<byte> ciphertext, ulong keyId, TokenContext context, CancellationToken cancellationToken)
    {
        if (TryOpen(await _keys.AcquireAsync(cancellationToken), keyId, ciphertext.Span, context, out var plaintext))
        {
            return plaintext;
        }

        // Another instance may already encrypt with a key added after our ring was loaded.
        var reload = _keys.StartReloadForUnknownKey(keyId);
        if (reload is not null)
        {
            (await reload.WaitAsync(cancellationToken))?.Throw();
            if (TryOpen(await _keys.AcquireAsync(cancellationToken), keyId, ciphertext.Span, context, out plaintext))
            {
                return plaintext;
            }

            Log.UnknownKey(_logger, ProtectionKey.FormatId(keyId));
        }

        throw new TokenProtectionException(TokenProtectionFailure.UnknownKey);
    }

    private static bool TryOpen(KeyRing ring, ulong keyId, ReadOnlySpan<byte> ciphertext, in TokenContext context, out string plaintext)
    {
        try
        {
            if (ring.TryGetKey(keyId, out var key))
            {
                plaintext = TokenCiphertext.Open(key, ciphertext, context);
                return true;
            }

            plaintext = "";
            return false;
        }
        finally
        {
            ring.Release();
        }
    }
}
