using FunctionsAuth.Functions;
using Microsoft.Extensions.Hosting;

FunctionsApp.Build(args).Run();
