{{/* Chart name, overridable with nameOverride. */}}
{{- define "secrets-store-csi-driver.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name: the release name when it already contains the chart name, else <release>-<name>.
Names of namespaced and cluster-scoped objects derive from it.
*/}}
{{- define "secrets-store-csi-driver.fullname" -}}
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

{{- define "secrets-store-csi-driver.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "secrets-store-csi-driver.labels" -}}
helm.sh/chart: {{ include "secrets-store-csi-driver.chart" . }}
{{ include "secrets-store-csi-driver.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: secrets-store-csi
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the driver's pods; never change them (DaemonSet selectors are immutable). */}}
{{- define "secrets-store-csi-driver.selectorLabels" -}}
app.kubernetes.io/name: {{ include "secrets-store-csi-driver.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: csi-driver
{{- end }}

{{- define "secrets-store-csi-driver.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "secrets-store-csi-driver.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag or repository@digest; an empty tag means the chart's appVersion. */}}
{{- define "secrets-store-csi-driver.image" -}}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository (toString (default .appVersion .tag)) }}
{{- end }}
{{- end }}

{{/* The port of linux.metricsAddr (":8095", "0.0.0.0:8095"). */}}
{{- define "secrets-store-csi-driver.metricsPort" -}}
{{- $port := regexFind "[0-9]+$" (toString .Values.linux.metricsAddr) }}
{{- required "linux.metricsAddr must end in a port number, e.g. :8095" $port }}
{{- end }}

{{/* The CSI driver name is the wire contract with kubelet and pods: fixed. */}}
{{- define "secrets-store-csi-driver.driverName" -}}
secrets-store.csi.k8s.io
{{- end }}

{{/* Directory the CSI socket lives in, on the host (kubelet dials it through the registration). */}}
{{- define "secrets-store-csi-driver.pluginDir" -}}
{{- printf "%s/plugins/csi-secrets-store" (trimSuffix "/" .Values.linux.kubeletRootDir) }}
{{- end }}

{{/*
A ClusterRole and the ClusterRoleBinding that grants it to the driver's service account.
Call with (dict "ctx" $ "suffix" "-name" "why" "comment" "rules" "<rules YAML>").
*/}}
{{- define "secrets-store-csi-driver.clusterRole" -}}
{{- $name := printf "%s%s" (include "secrets-store-csi-driver.fullname" .ctx) .suffix | trunc 63 | trimSuffix "-" }}
---
# {{ .why }}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ $name }}
  labels:
    {{- include "secrets-store-csi-driver.labels" .ctx | nindent 4 }}
rules:
  {{- .rules | trim | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $name }}
  labels:
    {{- include "secrets-store-csi-driver.labels" .ctx | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ include "secrets-store-csi-driver.serviceAccountName" .ctx }}
    namespace: {{ .ctx.Release.Namespace }}
{{- end }}
