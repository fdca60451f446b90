{{/* Vault: what makes this chart the HashiCorp Vault / OpenBao provider (the other templates are shared by every provider chart). */}}

{{- define "secrets-store-csi-provider.provider" -}}
vault
{{- end }}

{{/* Default Vault server for SecretProviderClasses that name none (vaultAddress wins), and its CA. */}}
{{- define "secrets-store-csi-provider.env" -}}
{{- with .Values.vault.address }}
- name: VAULT_ADDR
  value: {{ . | quote }}
{{- end }}
{{- with .Values.vault.authMount }}
- name: VAULT_AUTH_MOUNT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.vault.namespace }}
- name: VAULT_NAMESPACE
  value: {{ . | quote }}
{{- end }}
{{- with include "secrets-store-csi-provider.caFile" . }}
- name: VAULT_CACERT
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{- define "secrets-store-csi-provider.args" -}}
{{- end }}

{{/*
Vault logs in with the pod's service account token that the driver passes (CSIDriver tokenRequests with
audience "vault"); Vault itself runs the TokenReview. The provider needs no Kubernetes API access.
*/}}
{{- define "secrets-store-csi-provider.rules" -}}
{{- end }}
