"""Import, scrubbing, indexing, the voice profile and the drafting agent."""
