from tortoise import migrations
from tortoise.migrations import operations as ops
from hall.models import AgendaState, BlockMode, BoothState, EventState, MeetingState, Outcome, RequestState
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0024_proposal_enquiry')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Event',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('organiser', fields.ForeignKeyField('models.Organization', source_field='organiser_id', db_constraint=True, to_field='id', related_name='events_organised', on_delete=OnDelete.RESTRICT)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='events_created', on_delete=OnDelete.SET_NULL)),
                ('name', fields.CharField(max_length=200)),
                ('name_zh', fields.CharField(default='', max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('description_zh', fields.TextField(default='', unique=False)),
                ('timezone', fields.CharField(max_length=64)),
                ('starts_on', fields.DateField()),
                ('ends_on', fields.DateField()),
                ('booking_opens_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('booking_closes_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('meeting_minutes', fields.SmallIntField(default=30)),
                ('requests_need_acceptance', fields.BooleanField(default=True)),
                ('request_expiry_hours', fields.IntField(default=48)),
                ('max_requests_per_participant', fields.IntField(default=10)),
                ('agenda', fields.CharEnumField(default=AgendaState.NONE, description='NONE: none\nPRELIMINARY: preliminary\nFINAL: final', enum_type=AgendaState, max_length=16)),
                ('state', fields.CharEnumField(default=EventState.DRAFT, description='DRAFT: draft\nPUBLISHED: published\nBOOKING_OPEN: booking_open\nRUNNING: running\nCLOSED: closed', enum_type=EventState, max_length=16)),
                ('follow_up_days', fields.SmallIntField(default=7)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'hall_event', 'app': 'models', 'indexes': [Index(fields=['state', 'starts_on'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MeetingBlock',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='blocks', on_delete=OnDelete.CASCADE)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('mode', fields.CharEnumField(description='ONSITE: onsite\nONLINE: online', enum_type=BlockMode, max_length=8)),
                ('tables', fields.SmallIntField(null=True)),
            ],
            options={'table': 'hall_block', 'app': 'models', 'indexes': [Index(fields=['event_id', 'starts_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Participant',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='participants', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='participations', on_delete=OnDelete.CASCADE)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='participations', on_delete=OnDelete.CASCADE)),
                ('timezone', fields.CharField(max_length=64)),
                ('about', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('reminded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'hall_participant', 'app': 'models', 'unique_together': (('event', 'user'),), 'pk_attr': 'id', 'table_description': "A person taking part in an event's meetings, for their organisation."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Availability',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('participant', fields.ForeignKeyField('models.Participant', source_field='participant_id', db_constraint=True, to_field='id', related_name='availability', on_delete=OnDelete.CASCADE)),
                ('block', fields.ForeignKeyField('models.MeetingBlock', source_field='block_id', db_constraint=True, to_field='id', related_name='availability', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'hall_availability', 'app': 'models', 'unique_together': (('participant', 'block'),), 'pk_attr': 'id', 'table_description': 'A participant is available in a block.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MeetingRequest',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='requests', on_delete=OnDelete.CASCADE)),
                ('requester', fields.ForeignKeyField('models.Participant', source_field='requester_id', db_constraint=True, to_field='id', related_name='requests_sent', on_delete=OnDelete.CASCADE)),
                ('guest', fields.ForeignKeyField('models.Participant', source_field='guest_id', db_constraint=True, to_field='id', related_name='requests_received', on_delete=OnDelete.CASCADE)),
                ('message', fields.TextField(default='', unique=False)),
                ('listing_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('need_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('state', fields.CharEnumField(default=RequestState.PENDING, description='PENDING: pending\nACCEPTED: accepted\nDECLINED: declined\nCANCELLED: cancelled\nEXPIRED: expired', enum_type=RequestState, max_length=16)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decline_reason', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'hall_meeting_request', 'app': 'models', 'indexes': [Index(fields=['event_id', 'state']), Index(fields=['state', 'expires_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Meeting',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='meetings', on_delete=OnDelete.CASCADE)),
                ('request', fields.OneToOneField('models.MeetingRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='meeting', on_delete=OnDelete.CASCADE)),
                ('block', fields.ForeignKeyField('models.MeetingBlock', source_field='block_id', db_constraint=True, to_field='id', related_name='meetings', on_delete=OnDelete.RESTRICT)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('table_no', fields.SmallIntField(null=True)),
                ('video_url', fields.CharField(default='', max_length=300)),
                ('state', fields.CharEnumField(default=MeetingState.SCHEDULED, description='SCHEDULED: scheduled\nCANCELLED: cancelled', enum_type=MeetingState, max_length=16)),
                ('sequence', fields.SmallIntField(default=0)),
                ('follow_up_sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'hall_meeting', 'app': 'models', 'indexes': [Index(fields=['event_id', 'starts_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MeetingOutcome',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('meeting', fields.ForeignKeyField('models.Meeting', source_field='meeting_id', db_constraint=True, to_field='id', related_name='outcomes', on_delete=OnDelete.CASCADE)),
                ('participant', fields.ForeignKeyField('models.Participant', source_field='participant_id', db_constraint=True, to_field='id', related_name='outcomes', on_delete=OnDelete.CASCADE)),
                ('outcome', fields.CharEnumField(description='FOLLOW_UP: follow_up\nCONFIDENTIALITY: confidentiality\nOFFER: offer\nNO_FIT: no_fit\nNO_SHOW: no_show', enum_type=Outcome, max_length=16)),
                ('note', fields.TextField(default='', unique=False)),
                ('recorded_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'hall_meeting_outcome', 'app': 'models', 'unique_together': (('meeting', 'participant'),), 'pk_attr': 'id', 'table_description': 'What one side recorded after a meeting: each side records its own, once (it may change'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Pavilion',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='pavilions', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=120)),
                ('name_zh', fields.CharField(default='', max_length=120)),
                ('position', fields.SmallIntField(default=0)),
            ],
            options={'table': 'hall_pavilion', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Booth',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='booths', on_delete=OnDelete.CASCADE)),
                ('pavilion', fields.ForeignKeyField('models.Pavilion', source_field='pavilion_id', db_constraint=True, to_field='id', related_name='booths', on_delete=OnDelete.RESTRICT)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='booths', on_delete=OnDelete.RESTRICT)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='booths_made', on_delete=OnDelete.SET_NULL)),
                ('state', fields.CharEnumField(default=BoothState.PENDING, description='PENDING: pending\nAPPROVED: approved\nREJECTED: rejected\nWITHDRAWN: withdrawn', enum_type=BoothState, max_length=16)),
                ('listing_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('need_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('headline', fields.CharField(default='', max_length=200)),
                ('headline_zh', fields.CharField(default='', max_length=200)),
                ('video_url', fields.CharField(default='', max_length=300)),
                ('brochures', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('attendee_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('rejection_reason', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'hall_booth', 'app': 'models', 'unique_together': (('event', 'organization'),), 'indexes': [Index(fields=['event_id', 'state'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BoothVisit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('booth', fields.ForeignKeyField('models.Booth', source_field='booth_id', db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.CASCADE)),
                ('day', fields.DateField()),
                ('visitor', fields.CharField(max_length=64)),
            ],
            options={'table': 'hall_booth_visit', 'app': 'models', 'unique_together': (('booth', 'day', 'visitor'),), 'pk_attr': 'id', 'table_description': "One row per booth, day (in the event's time zone) and visitor: the unique key is what"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SlotHold',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='holds', on_delete=OnDelete.CASCADE)),
                ('meeting', fields.ForeignKeyField('models.Meeting', source_field='meeting_id', db_constraint=True, to_field='id', related_name='holds', on_delete=OnDelete.CASCADE)),
                ('holder', fields.CharField(max_length=80)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'hall_slot_hold', 'app': 'models', 'unique_together': (('event', 'holder', 'starts_at'),), 'pk_attr': 'id', 'table_description': 'A participant or a table taken in a slot by a scheduled meeting. `holder` is'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Offer',
            name='meeting',
            field=fields.ForeignKeyField('models.Meeting', source_field='meeting_id', null=True, db_constraint=True, to_field='id', related_name='offers', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Organization',
            name='organises_events',
            field=fields.BooleanField(default=False),
        ),
    ]
