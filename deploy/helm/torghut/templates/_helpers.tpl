{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "torghut.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped base name of every object; a service's objects append "-<service>". */}}
{{- define "torghut.fullname" -}}
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

{{/* Name of a service's objects. Call with (dict "root" $ "service" $name). */}}
{{- define "torghut.serviceFullname" -}}
{{- printf "%s-%s" (include "torghut.fullname" .root | trunc 40 | trimSuffix "-") .service | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "torghut.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "torghut.labels" -}}
helm.sh/chart: {{ include "torghut.chart" . }}
app.kubernetes.io/name: {{ include "torghut.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: torghut
{{- end }}

{{/* Selector labels of one service's pods. Call with (dict "root" $ "service" $name). */}}
{{- define "torghut.selectorLabels" -}}
app.kubernetes.io/name: {{ include "torghut.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end }}

{{/* All labels of one service's objects. Call with (dict "root" $ "service" $name). */}}
{{- define "torghut.serviceLabels" -}}
{{ include "torghut.labels" .root }}
app.kubernetes.io/component: {{ .service }}
{{- end }}

{{- define "torghut.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "torghut.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "torghut.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
A service's environment (global.config, then its own config; null values are left out), rendered
through tpl so a value may refer to the release, e.g. "http://{{ include "torghut.fullname" . }}-decision-engine:8080".
Call with (dict "root" $ "service" $name "spec" $spec).
*/}}
{{- define "torghut.serviceConfig" -}}
{{- $config := merge (deepCopy (default (dict) .spec.config)) (deepCopy (default (dict) .root.Values.global.config)) }}
{{- range $key := keys $config | sortAlpha }}
{{- $value := get $config $key }}
{{- if not (kindIs "invalid" $value) }}
{{ $key }}: {{ tpl (toString $value) $.root | quote }}
{{- end }}
{{- end }}
{{- end }}
