"""Human review of Winnow outputs: a labelling web app over a stratified sample,
label storage under DIR/review/, agreement statistics, and a blind comparison
of two trained runs. See docs/review.md."""
