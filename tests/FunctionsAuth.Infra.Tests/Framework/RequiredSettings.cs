using System.ComponentModel.DataAnnotations;
using System.Reflection;
using FunctionsAuth.Configuration;

namespace FunctionsAuth.Infra.Tests.Framework;

/// <summary>App setting names derived from the code's options classes, so infra/ is checked against what the app binds.</summary>
internal static class RequiredSettings
{
    public const string Separator = "__";

    /// <summary>Every <c>[Required]</c> or <c>[RequiredInAzure]</c> option as an app setting name, plus the sweeper's schedule and the events queue settings.</summary>
    public static IReadOnlyList<OptionSetting> All()
    {
        var settings = new List<OptionSetting>();
        Collect(typeof(FunctionsAuthOptions), FunctionsAuthOptions.SectionName, settings);
        settings.Add(new OptionSetting(SweeperOptions.ScheduleSetting, typeof(SweeperOptions).GetProperty(nameof(SweeperOptions.Schedule))!));
        settings.Add(new OptionSetting(EventsOptions.QueueNameSetting, typeof(EventsOptions).GetProperty(nameof(EventsOptions.QueueName))!));
        return settings;
    }

    /// <summary><see cref="ProviderOptions"/> properties a provider entry must set.</summary>
    public static IReadOnlyList<PropertyInfo> ProviderProperties() =>
        [.. typeof(ProviderOptions).GetProperties().Where(IsRequired)];

    /// <summary>The options property an app setting binds to, following dictionaries by key; null when nothing binds it.</summary>
    public static PropertyInfo? Bind(string settingName)
    {
        var steps = settingName.Split(Separator);
        if (steps[0] != FunctionsAuthOptions.SectionName)
        {
            return null;
        }

        var type = typeof(FunctionsAuthOptions);
        PropertyInfo? property = null;
        for (var i = 1; i < steps.Length; i++)
        {
            property = type.GetProperty(steps[i], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null)
            {
                return null;
            }

            type = property.PropertyType;
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
            {
                i++; // the key (a provider's name)
                type = type.GetGenericArguments()[1];
                if (i == steps.Length - 1 && type == typeof(string))
                {
                    return property;
                }
            }
        }

        return property;
    }

    private static void Collect(Type type, string prefix, List<OptionSetting> settings)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var name = prefix + Separator + property.Name;
            if (IsOptionsClass(property.PropertyType))
            {
                Collect(property.PropertyType, name, settings);
            }
            else if (IsRequired(property))
            {
                settings.Add(new OptionSetting(name, property));
            }
        }
    }

    private static bool IsRequired(PropertyInfo property) =>
        property.IsDefined(typeof(RequiredAttribute)) || property.IsDefined(typeof(RequiredInAzureAttribute));

    private static bool IsOptionsClass(Type type) =>
        type.IsClass && type != typeof(string) && type.Namespace == typeof(FunctionsAuthOptions).Namespace;
}

internal sealed record OptionSetting(string Name, PropertyInfo Property)
{
    public bool RequiredInAzure => Property.IsDefined(typeof(RequiredInAzureAttribute));

    /// <summary>Validates a literal value with the property's own data annotations (a table name's pattern, for instance).</summary>
    public IReadOnlyList<string> Validate(string value)
    {
        var results = new List<ValidationResult>();
        var attributes = Property.GetCustomAttributes<ValidationAttribute>();
        Validator.TryValidateValue(value, new ValidationContext(value) { MemberName = Property.Name }, results, attributes);
        return [.. results.Select(r => r.ErrorMessage ?? Name)];
    }
}
