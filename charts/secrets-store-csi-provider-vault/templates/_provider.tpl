{{/* Vault: what makes this chart the HashiCorp Vault / OpenBao provider (the other templates are shared by every provider chart). */}}

{{- define "secrets-store-csi-provider.provider" -}}
vault
{{- end }}

{{/* Default Vault server and auth mount for SecretProviderClasses that name none (theirs win). */}}
{{- define "secrets-store-csi-provider.env" -}}
{{- with .Values.vault.address }}
- name: VAULT_ADDR
  value: {{ . | quote }}
{{- end }}
{{- with .Values.vault.authMount }}
- name: VAULT_AUTH_MOUNT
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Provider-specific volumes and mounts (none). */}}
{{- define "secrets-store-csi-provider.volumes" -}}
{{- end }}
{{- define "secrets-store-csi-provider.volumeMounts" -}}
{{- end }}

{{- define "secrets-store-csi-provider.args" -}}
{{- end }}

{{/*
Vault logs in with the pod's service account token that the driver passes (CSIDriver tokenRequests with
audience "vault"); Vault itself runs the TokenReview. The provider needs no Kubernetes API access.
*/}}
{{- define "secrets-store-csi-provider.rules" -}}
{{- end }}
