from services.payment.app import NAME, build
from services.payment.settings import PaymentSettings
from shared.runtime import main

main(NAME, PaymentSettings, build)
