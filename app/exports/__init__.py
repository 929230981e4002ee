"""CSV exports of debts, messages and payments, streamed row by row, with every text
cell neutralised against spreadsheet formula injection. Reads other domains' tables;
changes nothing."""
