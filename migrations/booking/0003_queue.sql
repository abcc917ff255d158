-- The audit record of each sale's pre-queue shuffle: buyers who joined the virtual queue before
-- the sale opened were put in random order at opening. The seed and the joining order let anyone
-- re-run the shuffle (SplitMix64 + Fisher–Yates) and check it; the constraints make the recorded
-- order a permutation (each position, each buyer and each joining rank once per sale).

CREATE TABLE queue_shuffles (
    sale_id         TEXT PRIMARY KEY,
    seed            NUMERIC(20, 0) NOT NULL,
    pre_queue_size  INTEGER NOT NULL CONSTRAINT queue_shuffles_size_positive CHECK (pre_queue_size > 0),
    shuffled_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE queue_positions (
    sale_id      TEXT NOT NULL,
    position     INTEGER NOT NULL CONSTRAINT queue_positions_position_positive CHECK (position > 0),
    user_id      UUID NOT NULL,
    joined_rank  INTEGER NOT NULL CONSTRAINT queue_positions_rank_not_negative CHECK (joined_rank >= 0),
    PRIMARY KEY (sale_id, position),
    CONSTRAINT queue_positions_one_per_buyer UNIQUE (sale_id, user_id),
    CONSTRAINT queue_positions_one_per_rank UNIQUE (sale_id, joined_rank)
);
