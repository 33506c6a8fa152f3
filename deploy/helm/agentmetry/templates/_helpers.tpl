{{/* Name of the release's objects. */}}
{{- define "agentmetry.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "agentmetry.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "agentmetry.collectorSelector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: collector
{{- end -}}

{{/* The scaling query: runs in flight of the app, all replicas together (the autoscaler divides by the replicas). */}}
{{- define "agentmetry.activeRunsQuery" -}}
{{- required "app.job is required when autoscaling.mode is keda or hpa (the app's service.name)" .Values.app.job | printf "sum(subagent_active{job=%q})" -}}
{{- end -}}

{{- define "agentmetry.scaleDownBehavior" -}}
scaleDown:
  stabilizationWindowSeconds: {{ .Values.autoscaling.cooldownSeconds }}
  policies:
    - type: Pods
      value: {{ .Values.autoscaling.scaleDownPodsPerMinute }}
      periodSeconds: 60
{{- end -}}
