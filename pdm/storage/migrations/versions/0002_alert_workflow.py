"""alert workflow: lifecycle columns, audit trail, failure modes, notification channels and outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 22:03:43.635074
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

FAILURE_MODES = [
    ("bearing_wear", "Bearing wear"), ("cavitation", "Cavitation"), ("clogging_filter", "Clogged filter"),
    ("cooling_failure", "Cooling failure"), ("imbalance", "Imbalance"), ("misalignment", "Misalignment"),
    ("lubrication", "Lubrication problem"), ("seal_leak", "Seal leak"), ("electrical", "Electrical fault"),
    ("sensor_fault", "Sensor fault"), ("other", "Other"),
]


def upgrade() -> None:
    op.create_table('failure_modes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('asset_class', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_failure_modes')),
    sa.UniqueConstraint('code', name=op.f('uq_failure_modes_code'))
    )
    # A starting list; the cluster operator extends it (pdm.alerts.feedback.add_failure_mode).
    op.bulk_insert(sa.table('failure_modes', sa.column('code', sa.String), sa.column('label', sa.String),
                            sa.column('asset_class', sa.String)),
                   [{"code": code, "label": label, "asset_class": None} for code, label in FAILURE_MODES])
    op.create_table('notification_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=1000), nullable=False),
    sa.Column('min_severity', sa.String(length=16), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_notification_channels_company_id_companies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_channels'))
    )
    with op.batch_alter_table('notification_channels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_channels_company_id'), ['company_id'], unique=False)

    op.create_table('alert_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_events_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_alert_events_company_id_companies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_events'))
    )
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_events_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_events_company_id'), ['company_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=True),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('next_attempt_at', sa.Float(), nullable=False),
    sa.Column('sent_at', sa.Float(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_notifications_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['channel_id'], ['notification_channels.id'], name=op.f('fk_notifications_channel_id_notification_channels'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_notifications_company_id_companies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_company_id'), ['company_id'], unique=False)
        batch_op.create_index('ix_notifications_due', ['status', 'next_attempt_at'], unique=False)

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged_at', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('started_at', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('started_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('closed_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('assignee', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('failure_mode', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('action_taken', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('downtime_avoided_h', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('repair_cost', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('false_alarm_reason', sa.Text(), nullable=True))

    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('silent_period_min', sa.Float(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_column('silent_period_min')

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('false_alarm_reason')
        batch_op.drop_column('repair_cost')
        batch_op.drop_column('downtime_avoided_h')
        batch_op.drop_column('action_taken')
        batch_op.drop_column('failure_mode')
        batch_op.drop_column('assignee')
        batch_op.drop_column('closed_by')
        batch_op.drop_column('started_by')
        batch_op.drop_column('started_at')
        batch_op.drop_column('acknowledged_by')
        batch_op.drop_column('acknowledged_at')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_due')
        batch_op.drop_index(batch_op.f('ix_notifications_company_id'))
        batch_op.drop_index(batch_op.f('ix_notifications_alert_id'))

    op.drop_table('notifications')
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_events_company_id'))
        batch_op.drop_index(batch_op.f('ix_alert_events_alert_id'))

    op.drop_table('alert_events')
    with op.batch_alter_table('notification_channels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_channels_company_id'))

    op.drop_table('notification_channels')
    op.drop_table('failure_modes')
