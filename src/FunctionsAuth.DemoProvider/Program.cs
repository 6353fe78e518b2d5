using FunctionsAuth.DemoProvider;

// dotnet run --project src/FunctionsAuth.DemoProvider -- --urls http://127.0.0.1:5080
await using var server = await DemoOAuthServer.StartStandaloneAsync(args);
await server.WaitForShutdownAsync();
