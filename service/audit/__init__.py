"""The audit: every decision recorded (recorder), past moments resolved (past), decisions re-made (replay)."""
