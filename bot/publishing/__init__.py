"""From a closed round to results in the outbox: publish jobs run the analysis (reporting) and
queue the summary, pictures and workbook."""
