"""How long a test lets the app start and stop (``asgi_lifespan.LifespanManager``): its default of 5 s
failed a PostgreSQL test in CI when both xdist workers were busy loading the sentence encoder."""

STARTUP_S = 60.0
