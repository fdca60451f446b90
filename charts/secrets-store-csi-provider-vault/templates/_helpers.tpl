{{/*
Shared by the three provider charts (aws, azure, vault): this file, daemonset.yaml, serviceaccount.yaml,
rbac.yaml, configmap-ca.yaml and NOTES.txt are identical in each (tests/charts checks it). What differs
lives in _provider.tpl: the provider's name, environment, extra volumes and RBAC rules.
*/}}

{{- define "secrets-store-csi-provider.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "secrets-store-csi-provider.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "secrets-store-csi-provider.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "secrets-store-csi-provider.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: secrets-store-csi
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "secrets-store-csi-provider.selectorLabels" -}}
app.kubernetes.io/name: {{ include "secrets-store-csi-provider.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: provider
{{- end }}

{{- define "secrets-store-csi-provider.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "secrets-store-csi-provider.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "secrets-store-csi-provider.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (toString (default .Chart.AppVersion .Values.image.tag)) }}
{{- end }}
{{- end }}

{{/* The socket the driver dials: <socketDir>/<provider>.sock. */}}
{{- define "secrets-store-csi-provider.socket" -}}
{{- printf "%s/%s.sock" (trimSuffix "/" .Values.socketDir) (include "secrets-store-csi-provider.provider" .) }}
{{- end }}

{{/* Where the CA bundle is mounted, when one is configured ("" otherwise). */}}
{{- define "secrets-store-csi-provider.caFile" -}}
{{- if or .Values.caBundle.pem .Values.caBundle.configMap.name -}}
/etc/secrets-store-csi/ca/{{ .Values.caBundle.configMap.key | default "ca.crt" }}
{{- end }}
{{- end }}
