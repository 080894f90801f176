"""TMF642 shapes for the OpenAPI schema. The bodies are validated by repair_center.alarm_documents
(the same code the bulk path and the alarm connector run); these describe them, nothing more."""

from rest_framework import serializers

from repair_center.models import Alarm

SEVERITIES = Alarm.Severity.choices
STATES = Alarm.State.choices
ACK_STATES = Alarm.AckState.choices


class AlarmedObjectSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=200, help_text="Serial or name of the element, or a site code.")
    href = serializers.CharField(required=False)


class AlarmWritableFields(serializers.Serializer):
    externalAlarmId = serializers.CharField(max_length=200, required=False)
    state = serializers.ChoiceField(choices=STATES)
    ackState = serializers.ChoiceField(choices=ACK_STATES, required=False)
    perceivedSeverity = serializers.ChoiceField(choices=SEVERITIES)
    alarmType = serializers.CharField(max_length=64, help_text="X.733 / 3GPP TS 32.111-2 alarm type.")
    probableCause = serializers.CharField(max_length=200)
    specificProblem = serializers.CharField(max_length=200, required=False)
    alarmedObject = AlarmedObjectSerializer()
    alarmedObjectType = serializers.CharField(max_length=100, required=False)
    alarmChangedTime = serializers.DateTimeField(required=False)
    alarmClearedTime = serializers.DateTimeField(required=False)
    alarmReportingTime = serializers.DateTimeField(required=False)
    alarmDetails = serializers.CharField(max_length=4000, required=False)
    serviceAffecting = serializers.BooleanField(required=False)
    ackUserId = serializers.CharField(max_length=150, required=False)
    ackSystemId = serializers.CharField(max_length=150, required=False)
    clearUserId = serializers.CharField(max_length=150, required=False)
    clearSystemId = serializers.CharField(max_length=150, required=False)


class AlarmCreateSerializer(AlarmWritableFields):
    """TMF642 Alarm_Create."""

    sourceSystemId = serializers.CharField(max_length=64)
    alarmRaisedTime = serializers.DateTimeField()


class AlarmUpdateSerializer(AlarmWritableFields):
    """TMF642 Alarm_Update: any subset, as a JSON merge patch."""

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields


class AlarmSerializer(AlarmCreateSerializer):
    """TMF642 Alarm."""

    id = serializers.IntegerField()
    href = serializers.CharField()
    externalAlarmId = serializers.CharField()
    ackState = serializers.ChoiceField(choices=ACK_STATES)
    alarmChangedTime = serializers.DateTimeField()


class AlarmBulkSerializer(serializers.Serializer):
    alarms = AlarmCreateSerializer(
        many=True, help_text="Alarm_Create bodies; at most TICKETAI_BULK_MAX_ITEMS."
    )


class AlarmItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "rejected"])
    id = serializers.IntegerField(required=False)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class AlarmBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = AlarmItemResultSerializer(many=True)


class AlarmPatternSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False)
    externalAlarmId = serializers.CharField(required=False)
    sourceSystemId = serializers.CharField(required=False)
    alarmedObject = AlarmedObjectSerializer(required=False)
    probableCause = serializers.CharField(required=False)
    specificProblem = serializers.CharField(required=False)
    perceivedSeverity = serializers.CharField(required=False)
    alarmType = serializers.CharField(required=False)
    state = serializers.CharField(required=False)


class AlarmRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    href = serializers.CharField()


class ClearAlarmsCreateSerializer(serializers.Serializer):
    """TMF642 ClearAlarms_Create."""

    alarmClearedTime = serializers.DateTimeField()
    clearSystemId = serializers.CharField(max_length=150)
    clearUserId = serializers.CharField(max_length=150)
    alarmPattern = AlarmPatternSerializer(many=True)


class ClearAlarmsSerializer(ClearAlarmsCreateSerializer):
    id = serializers.CharField()
    href = serializers.CharField()
    state = serializers.CharField()
    clearedAlarm = AlarmRefSerializer(many=True)


class AckAlarmsCreateSerializer(serializers.Serializer):
    """TMF642 AckAlarms_Create."""

    ackTime = serializers.DateTimeField(required=False)
    ackSystemId = serializers.CharField(max_length=150)
    ackUserId = serializers.CharField(max_length=150)
    alarmPattern = AlarmPatternSerializer(many=True)


class AckAlarmsSerializer(AckAlarmsCreateSerializer):
    id = serializers.CharField()
    href = serializers.CharField()
    state = serializers.CharField()
    ackTime = serializers.DateTimeField()
    ackedAlarm = AlarmRefSerializer(many=True)


class TmfErrorSerializer(serializers.Serializer):
    """TMF Error, with the field errors as a TicketAI extension."""

    code = serializers.CharField()
    reason = serializers.CharField()
    message = serializers.CharField(required=False)
    status = serializers.CharField(required=False)
    errors = serializers.DictField(required=False)
