{{/* Labels of every object; call with (dict "root" $ "component" "gateway"). */}}
{{- define "booking-rush.labels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: booking-rush
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}

{{/* Pod selector; call with (dict "root" $ "component" "gateway"). */}}
{{- define "booking-rush.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* An image of this release; call with (dict "root" $ "name" "gateway"). */}}
{{- define "booking-rush.image" -}}
{{ printf "%s/%s:%s" .root.Values.imageRepository .name (default .root.Chart.AppVersion .root.Values.imageTag) }}
{{- end }}

{{/* The Secret holding DATABASE_URL under key `url`. */}}
{{- define "booking-rush.databaseSecret" -}}
{{- if .Values.database.existingSecret -}}
{{ .Values.database.existingSecret }}
{{- else -}}
booking-rush-database
{{- end -}}
{{- end }}

{{- define "booking-rush.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "booking-rush.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end }}

{{/*
A platform service: Deployment and Service. Call with
(dict "root" $ "name" "gateway" "port" 8080 "values" .Values.gateway "env" (list ...)
      "hpa" true "volumes" (list ...) "mounts" (list ...)).
*/}}
{{- define "booking-rush.platformService" -}}
{{- $root := .root -}}
{{- $v := .values -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  labels:
    {{- include "booking-rush.labels" (dict "root" $root "component" .name) | nindent 4 }}
spec:
  {{- if not .hpa }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "booking-rush.selector" (dict "root" $root "component" .name) | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate: { maxSurge: 25%, maxUnavailable: 0 }
  template:
    metadata:
      labels:
        {{- include "booking-rush.labels" (dict "root" $root "component" .name) | nindent 8 }}
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "booking-rush.podSecurityContext" . | nindent 8 }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "booking-rush.selector" (dict "root" $root "component" .name) | nindent 14 }}
      containers:
        - name: {{ .name }}
          image: {{ include "booking-rush.image" (dict "root" $root "name" .name) }}
          imagePullPolicy: {{ $root.Values.imagePullPolicy }}
          ports:
            - { name: http, containerPort: {{ .port }}, protocol: TCP }
          env:
            - { name: {{ upper .name }}_HOST, value: "0.0.0.0" }
            - { name: {{ upper .name }}_PORT, value: {{ .port | quote }} }
            - { name: REDIS_URL, value: {{ $root.Values.redis.url | quote }} }
            - { name: RUST_LOG, value: {{ $root.Values.logLevel | quote }} }
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $v.env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          startupProbe:
            httpGet: { path: /healthz, port: http }
            periodSeconds: 2
            failureThreshold: 60
          livenessProbe:
            httpGet: { path: /healthz, port: http }
            periodSeconds: 10
            timeoutSeconds: 3
          readinessProbe:
            httpGet: { path: /readyz, port: http }
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- include "booking-rush.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - { name: tmp, mountPath: /tmp }
            {{- with .mounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {}
        {{- with .volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  labels:
    {{- include "booking-rush.labels" (dict "root" $root "component" .name) | nindent 4 }}
spec:
  type: {{ default "ClusterIP" (dig "service" "type" "ClusterIP" $v) }}
  selector:
    {{- include "booking-rush.selector" (dict "root" $root "component" .name) | nindent 4 }}
  ports:
    - name: http
      port: {{ .port }}
      targetPort: http
      protocol: TCP
      {{- with (dig "service" "nodePort" nil $v) }}
      nodePort: {{ . }}
      {{- end }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  labels:
    {{- include "booking-rush.labels" (dict "root" $root "component" .name) | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "booking-rush.selector" (dict "root" $root "component" .name) | nindent 6 }}
{{- end }}

{{/* The dev PostgreSQL password: the existing one on upgrade, else generated once per render. */}}
{{- define "booking-rush.devPostgresPassword" -}}
{{- $cache := .Values.devBackingServices -}}
{{- if not (hasKey $cache "generatedPassword") -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace "booking-rush-postgres" -}}
{{- if and $existing $existing.data.password -}}
{{- $_ := set $cache "generatedPassword" ($existing.data.password | b64dec) -}}
{{- else -}}
{{- $_ := set $cache "generatedPassword" (randAlphaNum 32) -}}
{{- end -}}
{{- end -}}
{{ $cache.generatedPassword }}
{{- end }}
