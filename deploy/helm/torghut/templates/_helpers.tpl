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
{{- $flags := default (dict) .root.Values.flags }}
{{- if $flags.enabled }}
{{- $config = merge $config (deepCopy (default (dict) $flags.config)) (dict "TRADING_FEATURE_FLAGS_ENABLED" "true" "TRADING_FEATURE_FLAGS_URL" (include "torghut.flagsUrl" .root)) }}
{{- end }}
{{- range $key := keys $config | sortAlpha }}
{{- $value := get $config $key }}
{{- if not (kindIs "invalid" $value) }}
{{ $key }}: {{ tpl (toString $value) $.root | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The research lane's --signals spec: research.signals through tpl, else a Kafka window on the chart's bootstrap servers. */}}
{{- define "torghut.researchSignals" -}}
{{- if .Values.research.signals }}
{{- tpl .Values.research.signals . }}
{{- else }}
{{- printf "kafka://%s/%storghut.ta.signals.v1?since={since}&until={until}" (tpl (toString .Values.global.config.KAFKA_BOOTSTRAP_SERVERS) .) (default "" .Values.global.config.TOPIC_PREFIX) }}
{{- end }}
{{- end }}

{{/*
The spec of a research Job (the CronJob's jobTemplate and the one-shot Job): files/research-lane.sh
from the research ConfigMap, which derives the window and runs `torghut-research lane`.
Call with (dict "root" $ "since" "<ISO>" "until" "<ISO>"); empty since/until: the lookback window.
*/}}
{{- define "torghut.researchJobSpec" -}}
{{- $root := .root }}
{{- $research := $root.Values.research }}
{{- $ctx := dict "root" $root "service" "research" }}
backoffLimit: {{ $research.backoffLimit }}
activeDeadlineSeconds: {{ $research.activeDeadlineSeconds }}
# Exit code 2 is input the lane cannot use (it names the file, line and field): a retry would fail
# the same way, so the Job fails at once. Anything else (a broker that did not answer, an evicted
# pod) is retried up to backoffLimit.
podFailurePolicy:
  rules:
    - action: FailJob
      onExitCodes:
        containerName: research
        operator: In
        values: [2]
template:
  metadata:
    labels:
      {{- include "torghut.selectorLabels" $ctx | nindent 6 }}
      {{- with $root.Values.podLabels }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- with $root.Values.podAnnotations }}
    annotations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  spec:
    restartPolicy: Never
    serviceAccountName: {{ include "torghut.serviceAccountName" $root }}
    automountServiceAccountToken: {{ $root.Values.serviceAccount.automountToken }}
    {{- with $root.Values.imagePullSecrets }}
    imagePullSecrets:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- toYaml $root.Values.podSecurityContext | nindent 6 }}
    containers:
      - name: research
        image: {{ include "torghut.image" $root | quote }}
        imagePullPolicy: {{ $root.Values.image.pullPolicy }}
        command: ["/bin/sh", "/etc/torghut/research/research-lane.sh"]
        args:
          - --promotion-target
          - {{ $research.promotionTarget | quote }}
          {{- range $research.extraArgs }}
          - {{ . | quote }}
          {{- end }}
        env:
          - name: RESEARCH_SIGNALS
            {{- if $research.signalsSecret.name }}
            valueFrom:
              secretKeyRef:
                name: {{ $research.signalsSecret.name }}
                key: {{ required "research.signalsSecret.key is required with research.signalsSecret.name" $research.signalsSecret.key }}
            {{- else }}
            value: {{ include "torghut.researchSignals" $root | quote }}
            {{- end }}
          {{- if or .since .until }}
          - name: RESEARCH_SINCE
            value: {{ required "research.job.since and research.job.until go together" .since | quote }}
          - name: RESEARCH_UNTIL
            value: {{ required "research.job.since and research.job.until go together" .until | quote }}
          {{- end }}
          - name: RESEARCH_LOOKBACK_HOURS
            value: {{ $research.window.lookbackHours | quote }}
          - name: RESEARCH_ALIGN_SECONDS
            value: {{ $research.window.alignSeconds | quote }}
          - name: RESEARCH_CONFIG_DIR
            value: /etc/torghut/research
          # Each run's summary goes to torghut.research.lane-runs.v1 (the console's research page).
          - name: KAFKA_BOOTSTRAP_SERVERS
            value: {{ tpl (toString $root.Values.global.config.KAFKA_BOOTSTRAP_SERVERS) $root | quote }}
          - name: TOPIC_PREFIX
            value: {{ default "" $root.Values.global.config.TOPIC_PREFIX | quote }}
          - name: RESEARCH_OUTPUT_ROOT
            value: /var/lib/torghut/research
          - name: RESEARCH_KEEP_RUNS
            value: {{ $research.output.keepRuns | quote }}
          - name: TORGHUT_RESEARCH_WORKERS
            value: {{ $research.workers | quote }}
          # The image has no git: the manifest records the image as the code version.
          - name: TORGHUT_CODE_VERSION
            value: {{ include "torghut.image" $root | quote }}
          {{- with $research.extraEnv }}
          {{- toYaml . | nindent 10 }}
          {{- end }}
        resources:
          {{- toYaml $research.resources | nindent 10 }}
        securityContext:
          {{- toYaml $root.Values.securityContext | nindent 10 }}
        volumeMounts:
          - name: tmp
            mountPath: /tmp
          - name: config
            mountPath: /etc/torghut/research
            readOnly: true
          - name: data
            mountPath: /var/lib/torghut/research
          {{- with $research.extraVolumeMounts }}
          {{- toYaml . | nindent 10 }}
          {{- end }}
    volumes:
      - name: tmp
        emptyDir:
          sizeLimit: {{ $root.Values.tmpSizeLimit }}
      - name: config
        configMap:
          name: {{ include "torghut.serviceFullname" $ctx }}
      - name: data
        {{- if $research.output.persistence.enabled }}
        persistentVolumeClaim:
          claimName: {{ default (include "torghut.serviceFullname" $ctx) $research.output.persistence.existingClaim }}
        {{- else }}
        emptyDir: {}
        {{- end }}
      {{- with $research.extraVolumes }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- with $root.Values.nodeSelector }}
    nodeSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $root.Values.tolerations }}
    tolerations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $root.Values.affinity }}
    affinity:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}

{{/* The flag server's URL: flags.url, else the release's own Flipt Service. */}}
{{- define "torghut.flagsUrl" -}}
{{- if .Values.flags.url }}
{{- .Values.flags.url }}
{{- else }}
{{- printf "http://%s:%v" (include "torghut.serviceFullname" (dict "root" . "service" "flags")) .Values.flags.port }}
{{- end }}
{{- end }}

{{/*
The operator console's CONSOLE_SERVICES: name=http://<its Service>:<port> of every enabled service
(the console's own included: its readiness and its read model's consumer lag), in name order. The
name is the service's SERVICE_NAME, the prefix of its consumer groups, whose lag the console shows.
*/}}
{{- define "torghut.consoleServices" -}}
{{- $entries := list }}
{{- range $service, $spec := .Values.services }}
{{- if $spec.enabled }}
{{- $name := default $service (get (default (dict) $spec.config) "SERVICE_NAME") }}
{{- $entries = append $entries (printf "%s=http://%s:%v" $name (include "torghut.serviceFullname" (dict "root" $ "service" $service)) $spec.port) }}
{{- end }}
{{- end }}
{{- join "," $entries }}
{{- end }}
