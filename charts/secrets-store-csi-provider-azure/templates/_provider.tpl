{{/* Azure: what makes this chart the Azure Key Vault provider (the other templates are shared by every provider chart). */}}

{{- define "secrets-store-csi-provider.provider" -}}
azure
{{- end }}

{{/* Backend settings: Microsoft Entra authority and Key Vault DNS suffix (sovereign clouds, emulators). */}}
{{- define "secrets-store-csi-provider.env" -}}
{{- with .Values.azure.authorityHost }}
- name: AZURE_AUTHORITY_HOST
  value: {{ . | quote }}
{{- end }}
{{- with .Values.azure.keyVaultDnsSuffix }}
- name: AZURE_KEYVAULT_DNS_SUFFIX
  value: {{ . | quote }}
{{- end }}
{{- with include "secrets-store-csi-provider.caFile" . }}
- name: REQUESTS_CA_BUNDLE
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{- define "secrets-store-csi-provider.args" -}}
{{- end }}

{{/* Workload identity tokens arrive from the driver (CSIDriver tokenRequests): no API access needed. */}}
{{- define "secrets-store-csi-provider.rules" -}}
{{- end }}
