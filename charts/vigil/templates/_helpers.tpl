{{/* Name of the chart, for labels. */}}
{{- define "vigil.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified release name; every object's name starts with it. */}}
{{- define "vigil.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "vigil.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "vigil.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "worker"). */}}
{{- define "vigil.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vigil.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "vigil.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "vigil.secretName" -}}
{{ include "vigil.fullname" . }}-connections
{{- end -}}

{{/* Environment shared by every component: where the database and broker are. */}}
{{- define "vigil.env" -}}
- name: VIGIL_DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- if .Values.postgres.existingSecret }}
      name: {{ .Values.postgres.existingSecret }}
      key: {{ .Values.postgres.existingSecretKey }}
      {{- else }}
      name: {{ include "vigil.secretName" . }}
      key: database-url
      {{- end }}
- name: VIGIL_AMQP_URL
  valueFrom:
    secretKeyRef:
      {{- if .Values.amqp.existingSecret }}
      name: {{ .Values.amqp.existingSecret }}
      key: {{ .Values.amqp.existingSecretKey }}
      {{- else }}
      name: {{ include "vigil.secretName" . }}
      key: amqp-url
      {{- end }}
- name: VIGIL_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}

{{/* Pod-level settings shared by every component; call with (dict "root" $ "values" .Values.worker). */}}
{{- define "vigil.podSpec" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Liveness and readiness probes on a named port. */}}
{{- define "vigil.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ . }}
  initialDelaySeconds: 5
  periodSeconds: 10
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ . }}
  initialDelaySeconds: 2
  periodSeconds: 5
{{- end -}}
