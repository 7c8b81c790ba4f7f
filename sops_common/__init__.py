"""Building blocks below every app: domain errors, the time format, admin and command bases.

Nothing here imports an app of the project; `errors` and `timefmt` import no Django either.
"""
