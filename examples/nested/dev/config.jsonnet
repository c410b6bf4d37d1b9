{ domain: 'dev.example.internal' }
