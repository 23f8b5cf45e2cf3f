"""Pure text logic for curation. Never imports Apache Beam."""
