@description('Application Insights component the app exports to; the workbook queries the Log Analytics workspace behind it.')
param applicationInsightsName string

@description('Name shown in the portal.')
param displayName string

param location string
param tags object

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Queries read the workspace-based tables (AppMetrics, AppDependencies) the Azure Monitor exporter writes into.
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(applicationInsights.id, 'functionsauth-operations-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsights.properties.WorkspaceResourceId
    serializedData: loadTextContent('workbook.json')
  }
}

output name string = workbook.name
