using System.Text;
using FunctionsAuth.Events;

namespace FunctionsAuth.Tests.Events;

/// <summary>The signature against the Standard Webhooks specification's published example, so any of its libraries verifies what we send.</summary>
public sealed class WebhookSignatureTests
{
    private const string SpecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    [Fact]
    public void Sign_ReproducesTheSpecificationsExampleSignature()
    {
        var signature = WebhookSignature.Sign(WebhookSignature.KeyFrom(SpecSecret), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, Encoding.UTF8.GetBytes("""{"test": 2432232314}"""));

        Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", signature);
    }

    [Theory]
    [InlineData("whsec_not base64!")]
    [InlineData("whsec_c2hvcnQ=")]
    [InlineData("")]
    public void KeyFrom_ASecretThatIsNotBase64Of24To64Bytes_Refused(string secret)
    {
        Assert.Throws<FormatException>(() => WebhookSignature.KeyFrom(secret));
    }
}
