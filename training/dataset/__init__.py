"""The dataset side: QC, the split, versioned snapshots, the report card, exports, arena preferences."""
