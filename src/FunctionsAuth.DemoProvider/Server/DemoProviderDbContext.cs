using Microsoft.EntityFrameworkCore;

namespace FunctionsAuth.DemoProvider.Server;

/// <summary>Holds OpenIddict's entities only (registered through <c>UseOpenIddict()</c> on the options).</summary>
internal sealed class DemoProviderDbContext(DbContextOptions<DemoProviderDbContext> options) : DbContext(options);
