"""Demo data: the sample web archive behind `winnow sample-warc`, `winnow run`
without inputs and `make demo`. It is not curation logic (it only borrows
curation's stage and reason names for its labels), so it lives with the app."""
