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

{{/*
Selector labels of one component; call with (dict "root" $ "component"
"worker"), and "region" for a named region's workers, whose Deployments
must not select each other's pods.
*/}}
{{- define "vigil.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vigil.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .region }}
monitoring.vigil.dev/region: {{ . }}
{{- end }}
{{- end -}}

{{/*
The image of a component: its imageTag (set during an upgrade to roll the
workers first), else image.tag, else the chart's appVersion. Call like
vigil.podLabels.
*/}}
{{- define "vigil.image" -}}
{{ .root.Values.image.repository }}:{{ .values.imageTag | default .root.Values.image.tag | default .root.Chart.AppVersion }}
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

{{/*
Environment of the server and the operator, which both keep history and
deliver notifications and run a scheduler: retention, the notification
dispatcher and the scheduler's admission bound.
*/}}
{{- define "vigil.controlEnv" -}}
- name: VIGIL_RESULTS_RETENTION
  value: {{ .Values.history.resultsRetention | quote }}
- name: VIGIL_ROLLUP_RETENTION
  value: {{ .Values.history.rollupRetention | quote }}
- name: VIGIL_NOTIFY
  value: {{ .Values.notifications.enabled | quote }}
- name: VIGIL_NOTIFY_CONCURRENCY
  value: {{ .Values.notifications.concurrency | quote }}
- name: VIGIL_NOTIFY_TIMEOUT
  value: {{ .Values.notifications.timeout | quote }}
- name: VIGIL_NOTIFY_DENY_NETWORKS
  value: {{ .Values.notifications.denyNetworks | quote }}
- name: VIGIL_MAX_QUEUE_LAG
  value: {{ .Values.scheduler.maxQueueLag | quote }}
{{- end -}}

{{/*
Labels of a component's pods: its selector labels, then the global and the
component's podLabels. Call with (dict "root" $ "component" "worker" "values" .Values.worker).
*/}}
{{- define "vigil.podLabels" -}}
{{- $labels := include "vigil.selectorLabels" . | fromYaml -}}
{{- $labels = merge $labels (deepCopy (.values.podLabels | default dict)) (deepCopy (.root.Values.podLabels | default dict)) -}}
{{- toYaml $labels -}}
{{- end -}}

{{/* Annotations of a component's pods; call like vigil.podLabels. */}}
{{- define "vigil.podAnnotations" -}}
{{- $annotations := dict "checksum/connections" (include (print .root.Template.BasePath "/secret.yaml") .root | sha256sum) -}}
{{- $annotations = merge $annotations (deepCopy (.values.podAnnotations | default dict)) (deepCopy (.root.Values.podAnnotations | default dict)) -}}
{{- toYaml $annotations -}}
{{- end -}}

{{/*
Pod-level settings shared by every component; call like vigil.podLabels,
with "volumes" (a list of Volume objects of the component's own) optional.
*/}}
{{- define "vigil.podSpec" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- /* The kubelet kills a pod grace seconds after SIGTERM; the process
drains for drainSeconds, so grace must be longer or the drain is cut. */}}
terminationGracePeriodSeconds: {{ add .root.Values.shutdown.drainSeconds .root.Values.shutdown.graceMarginSeconds }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
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
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- include "vigil.topologySpread" $ | nindent 2 }}
{{- end }}
{{- $volumes := concat (.volumes | default list) (.root.Values.extraVolumes | default list) (.values.extraVolumes | default list) }}
{{- with $volumes }}
volumes:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The component's topologySpreadConstraints, each with the component's
labelSelector when it names none, and matchLabelKeys pod-template-hash so
that a rollout's new pods spread among themselves rather than around the
old ones.
*/}}
{{- define "vigil.topologySpread" -}}
{{- $selector := include "vigil.selectorLabels" . | fromYaml -}}
{{- $out := list -}}
{{- range .values.topologySpreadConstraints -}}
{{- $c := deepCopy . -}}
{{- if not (hasKey $c "labelSelector") -}}
{{- $_ := set $c "labelSelector" (dict "matchLabels" $selector) -}}
{{- if not (hasKey $c "matchLabelKeys") -}}
{{- $_ := set $c "matchLabelKeys" (list "pod-template-hash") -}}
{{- end -}}
{{- end -}}
{{- $out = append $out $c -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
Environment every container ends with: the drain timeout, GOMEMLIMIT from
the memory limit, then the global and the component's extraEnv (last, so
that they can override what the chart sets). Call like vigil.podLabels.
*/}}
{{- define "vigil.envTail" -}}
- name: VIGIL_SHUTDOWN_TIMEOUT
  value: {{ printf "%ds" (int .root.Values.shutdown.drainSeconds) | quote }}
{{- if and .root.Values.goMemLimitFromLimits (dig "limits" "memory" "" (.values.resources | default dict)) }}
# The runtime's soft limit: it collects harder near the container's limit
# instead of growing past it and being OOM-killed.
- name: GOMEMLIMIT
  valueFrom:
    resourceFieldRef:
      resource: limits.memory
{{- end }}
{{- with concat (.root.Values.extraEnv | default list) (.values.extraEnv | default list) }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Volume mounts of a container: "mounts" (its own) then the extra ones. */}}
{{- define "vigil.volumeMounts" -}}
{{- $mounts := concat (.mounts | default list) (.root.Values.extraVolumeMounts | default list) (.values.extraVolumeMounts | default list) -}}
{{- with $mounts }}
volumeMounts:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A PodDisruptionBudget of a component; call like vigil.podLabels, with the
component's podDisruptionBudget values at .values.podDisruptionBudget, and
"name" when it is not <fullname>-<component> (a region's workers).
*/}}
{{- define "vigil.pdb" -}}
{{- $pdb := .values.podDisruptionBudget -}}
{{- if $pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name | default (printf "%s-%s" (include "vigil.fullname" .root) .component) }}
  labels:
    {{- include "vigil.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    {{- with .region }}
    monitoring.vigil.dev/region: {{ . }}
    {{- end }}
spec:
  {{- if not (kindIs "invalid" $pdb.minAvailable) }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $pdb.maxUnavailable }}
  {{- end }}
  # Evict a pod that is not ready even when the budget is spent: it serves
  # nothing, and a stuck rollout must not block node drains.
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "vigil.selectorLabels" . | nindent 6 }}
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
