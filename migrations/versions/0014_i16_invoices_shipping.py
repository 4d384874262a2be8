"""invoices and credit notes numbered per year; an order's shipping details; buyers' counter-offers

Revision ID: 0014_i16
Revises: 0013
Create Date: 2026-11-28 10:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0014_i16"
down_revision = "0015_i18"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('invoice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('deposit', 'final', 'credit_note', name='invoicekind', native_enum=False, length=12),
              nullable=False),
    sa.Column('amount_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_by_id', sa.Integer(), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_invoice_amount_positive')),
    sa.ForeignKeyConstraint(['issued_by_id'], ['user_account.id'], name=op.f('fk_invoice_issued_by_id_user_account')),
    sa.ForeignKeyConstraint(['order_id'], ['purchase_order.id'], name=op.f('fk_invoice_order_id_purchase_order')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_invoice_payment_id_payment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice')),
    sa.UniqueConstraint('number', name=op.f('uq_invoice_number')),
    sa.UniqueConstraint('year', 'sequence', name='year_sequence')
    )
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_order_id'), ['order_id'], unique=False)
    with op.batch_alter_table('purchase_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('carrier', sa.String(length=80), server_default='', nullable=False))
        batch_op.add_column(sa.Column('tracking_number', sa.String(length=80), server_default='', nullable=False))
        batch_op.add_column(sa.Column('shipped_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('expected_on', sa.Date(), nullable=True))
    with op.batch_alter_table('quote_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('counter_to_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('target_price_minor', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_quote_request_counter_to_id_quote_request'), 'quote_request',
                                    ['counter_to_id'], ['id'])
        batch_op.create_check_constraint(batch_op.f('ck_quote_request_target_price_positive'),
                                         'target_price_minor IS NULL OR target_price_minor > 0')


def downgrade():
    with op.batch_alter_table('quote_request', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_quote_request_target_price_positive'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_quote_request_counter_to_id_quote_request'), type_='foreignkey')
        batch_op.drop_column('target_price_minor')
        batch_op.drop_column('counter_to_id')
    with op.batch_alter_table('purchase_order', schema=None) as batch_op:
        batch_op.drop_column('expected_on')
        batch_op.drop_column('shipped_on')
        batch_op.drop_column('tracking_number')
        batch_op.drop_column('carrier')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_order_id'))
    op.drop_table('invoice')
