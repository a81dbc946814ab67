"""Text embeddings cache: one vector per (embedding model, text hash)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "text_embeddings",
        sa.Column("model", sa.String(length=300), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("model", "key"),
    )


def downgrade() -> None:
    op.drop_table("text_embeddings")
