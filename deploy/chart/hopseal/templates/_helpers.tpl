{{/*
The control plane's namespace. It is fixed: the webhook configuration, the
proxies' controller address (hopseal-controller.hopseal-system.svc) and the
controller's SPIFFE ID (spiffe://<td>/ns/hopseal-system/sa/hopseal-controller)
all name it.
*/}}
{{- define "hopseal.namespace" -}}
hopseal-system
{{- end }}

{{- define "hopseal.version" -}}
{{ .Chart.AppVersion }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "hopseal.labels" -}}
app.kubernetes.io/name: hopseal
app.kubernetes.io/part-of: hopseal
app.kubernetes.io/version: {{ include "hopseal.version" . | quote }}
{{- end }}

{{/* Labels that select the controller's pods; never change them (a Deployment's selector is immutable). */}}
{{- define "hopseal.selectorLabels" -}}
app.kubernetes.io/name: hopseal
app.kubernetes.io/component: controller
{{- end }}

{{- define "hopseal.controllerImage" -}}
{{ .Values.images.controller.repository }}:{{ .Values.images.controller.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "hopseal.proxyImage" -}}
{{ .Values.images.proxy.repository }}:{{ .Values.images.proxy.tag | default .Chart.AppVersion }}
{{- end }}

{{/* Labels that select the gateway's pods; never change them. */}}
{{- define "hopseal.gatewaySelectorLabels" -}}
app.kubernetes.io/name: hopseal
app.kubernetes.io/component: gateway
{{- end }}

{{/* Namespaces whose Secrets the controller may get for Gateways. */}}
{{- define "hopseal.gatewaySecretNamespaces" -}}
{{- if .Values.gateway.secretNamespaces }}{{ join " " .Values.gateway.secretNamespaces }}{{ else }}{{ .Values.gateway.namespace }}{{ end }}
{{- end }}
