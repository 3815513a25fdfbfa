{{/* Environment, volume mounts and ports shared by the sotpd container and the migrate init container. */}}
{{- define "sotp.env" -}}
- name: SOTP_CONFIG
  value: /etc/sotp/config/sotpd.toml
- name: HOME
  value: /var/lib/sotp
- name: SOTP_DATABASE_URL
  value: {{ .Values.database.url | quote }}
- name: SOTP_DATABASE_PASSWORD_FILE
  value: /etc/sotp/secrets/db_password
- name: SOTP_API_LISTEN
  value: {{ printf "[::]:%d" (int .Values.ports.api) | quote }}
- name: SOTP_FLOW_NETFLOW_PORT
  value: {{ .Values.ports.netflow | quote }}
- name: SOTP_FLOW_IPFIX_PORT
  value: {{ .Values.ports.ipfix | quote }}
- name: SOTP_FLOW_SFLOW_PORT
  value: {{ .Values.ports.sflow | quote }}
- name: SOTP_SYSLOG_UDP_PORT
  value: {{ .Values.ports.syslogUdp | quote }}
- name: SOTP_SYSLOG_TCP_PORT
  value: {{ .Values.ports.syslogTcp | quote }}
- name: SOTP_SYSLOG_TLS_PORT
  value: {{ .Values.ports.syslogTls | quote }}
- name: SOTP_TRAPS_PORT
  value: {{ .Values.ports.traps | quote }}
- name: SOTP_SINK_SPOOL_DIR
  value: /var/lib/sotp/spool
- name: SOTP_FLOW_STATE_DIR
  value: /var/lib/sotp/flow
- name: SOTP_TRAPS_STATE_FILE
  value: /var/lib/sotp/snmp-engine
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "sotp.volumeMounts" -}}
- name: config
  mountPath: /etc/sotp/config
  readOnly: true
- name: db-password
  mountPath: /etc/sotp/secrets
  readOnly: true
{{- if .Values.apiTokens }}
- name: tokens
  mountPath: /etc/sotp/tokens
  readOnly: true
{{- end }}
- name: state
  mountPath: /var/lib/sotp
- name: tmp
  mountPath: /tmp
{{- end -}}
