{{/* Azure: what makes this chart the Azure Key Vault provider (the other templates are shared by every provider chart). */}}

{{- define "secrets-store-csi-provider.provider" -}}
azure
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
{{- if .Values.azure.customCloud }}
- name: AZURE_ENVIRONMENT_FILEPATH
  value: /etc/secrets-store-csi/azure/environment.json
{{- end }}
{{- end }}

{{/* The custom cloud environment file (cloudName: AzureStackCloud), from the chart's ConfigMap. */}}
{{- define "secrets-store-csi-provider.volumes" -}}
{{- if .Values.azure.customCloud }}
- name: azure-environment
  configMap:
    name: {{ include "secrets-store-csi-provider.fullname" . }}-environment
{{- end }}
{{- end }}
{{- define "secrets-store-csi-provider.volumeMounts" -}}
{{- if .Values.azure.customCloud }}
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
