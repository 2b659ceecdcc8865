from tortoise import migrations
from tortoise.migrations import operations as ops
from listings.models import EnquirySide, EnquiryState
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0018_dash')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Enquiry',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('listing', fields.ForeignKeyField('models.Listing', source_field='listing_id', db_constraint=True, to_field='id', related_name='enquiries', on_delete=OnDelete.RESTRICT)),
                ('seller', fields.ForeignKeyField('models.Organization', source_field='seller_id', db_constraint=True, to_field='id', related_name='enquiries_received', on_delete=OnDelete.RESTRICT)),
                ('buyer', fields.ForeignKeyField('models.Organization', source_field='buyer_id', db_constraint=True, to_field='id', related_name='enquiries_made', on_delete=OnDelete.RESTRICT)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='enquiries', on_delete=OnDelete.SET_NULL)),
                ('state', fields.CharEnumField(default=EnquiryState.OPEN, description='OPEN: open\nCLOSED: closed', enum_type=EnquiryState, max_length=8)),
                ('closed_by', fields.CharField(default='', max_length=8)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'enquiry', 'app': 'models', 'indexes': [Index(fields=['buyer_id', 'updated_at']), Index(fields=['seller_id', 'updated_at'])], 'pk_attr': 'id', 'table_description': 'A question about a published listing before any offer: a thread between the enterprise'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EnquiryMessage',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('enquiry', fields.ForeignKeyField('models.Enquiry', source_field='enquiry_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('side', fields.CharEnumField(description='BUYER: buyer\nSELLER: seller', enum_type=EnquirySide, max_length=8)),
                ('author', fields.ForeignKeyField('models.User', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='enquiry_messages', on_delete=OnDelete.SET_NULL)),
                ('body', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'enquiry_message', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Offer',
            name='enquiry',
            field=fields.ForeignKeyField('models.Enquiry', source_field='enquiry_id', null=True, db_constraint=True, to_field='id', related_name='offers', on_delete=OnDelete.SET_NULL),
        ),
    ]
