namespace FunctionsAuth.Secrets;

/// <summary>A secret the configuration refers to does not exist (or has no usable version). Secret names are not secret, so the message names it.</summary>
public sealed class SecretNotFoundException : Exception
{
    public SecretNotFoundException(string secretName, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        SecretName = secretName;
    }

    public string SecretName { get; }
}
