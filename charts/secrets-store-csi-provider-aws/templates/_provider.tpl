{{/* AWS: what makes this chart the AWS provider (the other templates are shared by every provider chart). */}}

{{- define "secrets-store-csi-provider.provider" -}}
aws
{{- end }}

{{/* Backend settings as the AWS SDK reads them. */}}
{{- define "secrets-store-csi-provider.env" -}}
{{- with .Values.aws.region }}
- name: AWS_REGION
  value: {{ . | quote }}
{{- end }}
{{- with .Values.aws.endpointUrl }}
- name: AWS_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.aws.stsEndpointUrl }}
- name: AWS_ENDPOINT_URL_STS
  value: {{ . | quote }}
{{- end }}
{{- with .Values.aws.secretsManagerEndpointUrl }}
- name: AWS_ENDPOINT_URL_SECRETS_MANAGER
  value: {{ . | quote }}
{{- end }}
{{- with .Values.aws.ssmEndpointUrl }}
- name: AWS_ENDPOINT_URL_SSM
  value: {{ . | quote }}
{{- end }}
{{- with include "secrets-store-csi-provider.caFile" . }}
- name: AWS_CA_BUNDLE
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Provider-specific volumes and mounts (none). */}}
{{- define "secrets-store-csi-provider.volumes" -}}
{{- end }}
{{- define "secrets-store-csi-provider.volumeMounts" -}}
{{- end }}

{{/* Extra provider flags. */}}
{{- define "secrets-store-csi-provider.args" -}}
{{- end }}

{{/* The AWS provider reads the pod's service account (IRSA role annotation) and the node (region label). */}}
{{- define "secrets-store-csi-provider.rules" -}}
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["get"]
{{- end }}
