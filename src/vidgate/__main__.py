from vidgate.cli import app

app()
