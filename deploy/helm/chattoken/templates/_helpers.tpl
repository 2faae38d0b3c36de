{{/*
The name of every object: the release name when it already holds the chart's
name ("chattoken" gives the same names as deploy/kubernetes), else
<release>-chattoken. Kubernetes names are at most 63 characters.
*/}}
{{- define "chattoken.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
The labels that select the pods: fixed for the release's lifetime, since a
Deployment's selector cannot change.
*/}}
{{- define "chattoken.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: token-service
{{- end -}}

{{- define "chattoken.labels" -}}
{{ include "chattoken.selectorLabels" . }}
app.kubernetes.io/version: {{ include "chattoken.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "chattoken.version" -}}
{{- .Values.image.tag | default .Chart.AppVersion | trunc 63 -}}
{{- end -}}

{{/*
The image reference: the digest wins over the tag, so production can pin the
exact bytes.
*/}}
{{- define "chattoken.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
The context schema's JSON text, refused at render time when it is not JSON
rather than by every pod at start.
*/}}
{{- define "chattoken.contextSchema" -}}
{{- $parsed := fromJson .Values.contextSchema -}}
{{- if hasKey $parsed "Error" -}}
{{- fail (printf "contextSchema is not JSON: %s" $parsed.Error) -}}
{{- end -}}
{{- .Values.contextSchema | trim -}}
{{- end -}}
