{{/* Azure: what makes this chart the Azure Key Vault provider (the other templates are shared by every provider chart). */}}

{{- define "secrets-store-csi-provider.provider" -}}
azure
{{- end }}

{{/*
The custom cloud environment file: azure.customCloud as given, or one made from azure.keyVaultDnsSuffix
(vaults at https://<name>.<suffix>, Entra at azure.authorityHost or the public authority). Empty: none.
*/}}
{{- define "secrets-store-csi-provider.azureCloud" -}}
{{- if .Values.azure.customCloud }}
{{- toJson .Values.azure.customCloud }}
{{- else if .Values.azure.keyVaultDnsSuffix }}
{{- $suffix := trimPrefix "." .Values.azure.keyVaultDnsSuffix }}
{{- toJson (dict "name" "custom" "keyVaultDNSSuffix" $suffix
    "activeDirectoryEndpoint" (.Values.azure.authorityHost | default "https://login.microsoftonline.com/")
    "resourceIdentifiers" (dict "keyVault" (printf "https://%s" $suffix))) }}
{{- end }}
{{- end }}

{{/* Backend settings: Microsoft Entra authority, managed identity endpoint, custom cloud environment. */}}
{{- define "secrets-store-csi-provider.env" -}}
{{- with .Values.azure.authorityHost }}
- name: AZURE_AUTHORITY_HOST
  value: {{ . | quote }}
{{- end }}
{{- with .Values.azure.podIdentityAuthorityHost }}
- name: AZURE_POD_IDENTITY_AUTHORITY_HOST
  value: {{ . | quote }}
{{- end }}
{{- if include "secrets-store-csi-provider.azureCloud" . }}
- name: AZURE_ENVIRONMENT_FILEPATH
  value: /etc/secrets-store-csi/azure/environment.json
{{- end }}
{{- end }}

{{/* The custom cloud environment file (cloudName: AzureStackCloud), from the chart's ConfigMap. */}}
{{- define "secrets-store-csi-provider.volumes" -}}
{{- if include "secrets-store-csi-provider.azureCloud" . }}
- name: azure-environment
  configMap:
    name: {{ include "secrets-store-csi-provider.fullname" . }}-environment
{{- end }}
{{- end }}
{{- define "secrets-store-csi-provider.volumeMounts" -}}
{{- if include "secrets-store-csi-provider.azureCloud" . }}
- name: azure-environment
  mountPath: /etc/secrets-store-csi/azure
  readOnly: true
{{- end }}
{{- end }}

{{- define "secrets-store-csi-provider.args" -}}
{{- end }}

{{/* Workload identity tokens arrive from the driver (CSIDriver tokenRequests): no API access needed. */}}
{{- define "secrets-store-csi-provider.rules" -}}
{{- end }}
