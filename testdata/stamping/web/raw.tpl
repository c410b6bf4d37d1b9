raw {{ .Values.x }}
